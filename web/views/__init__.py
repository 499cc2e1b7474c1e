"""Page views by area: models (explore, model page), predictions (page, history), galleries,
accounts."""
