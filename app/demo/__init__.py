"""Demo data: the S&P 500 universe, generated chatter about it, and the seed that stores it."""
