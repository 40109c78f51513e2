"""The basic services' building blocks (Atlas, Almanac, Chronicle, ...)."""
