"""SONA: interactions, user profiles, recommendations and the re-ranking of search results."""
