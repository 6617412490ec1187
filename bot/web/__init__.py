"""The officers' web desk: queue, bank, stats and models in the browser (`agribot web`)."""
