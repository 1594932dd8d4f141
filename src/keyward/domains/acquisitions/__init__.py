"""Acquisitions: an organization's hold on an offering, its named keys, its exported spec."""
