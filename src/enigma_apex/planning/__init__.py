"""Signal semantics (pure): what a signal means for each account's position and the orders that get it there."""
