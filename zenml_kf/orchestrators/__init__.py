"""Orchestrators: where and how a pipeline's steps execute."""
