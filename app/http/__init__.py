"""HTTP in front of GraphQL: request rules, response cache and APQ, gzip, headers, GraphiQL."""
