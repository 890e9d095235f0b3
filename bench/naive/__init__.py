"""The naive baseline: the same schema resolved one query per relation per row, no cache.

This is how the earlier REST service reached its data, kept here to measure against; it is never
part of the product.
"""
