"""HTTP before GraphQL: request rules, response cache and APQ, compression, headers, GraphiQL."""
