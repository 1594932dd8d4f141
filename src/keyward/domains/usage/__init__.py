"""Key usage: how many responses of each status class a key got, over time."""
