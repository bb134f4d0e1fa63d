"""The domain: aggregates, their events and the pure rules. No I/O lives here.

Event topics (`module:qualname`) are stored in the log forever: these module paths
and class names are permanent.
"""
