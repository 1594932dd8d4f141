"""Thin route handlers: parse, open one unit of work, call one service, answer."""
