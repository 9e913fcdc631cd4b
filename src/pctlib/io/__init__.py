"""Hit tables: the published dataset format, our writers and the importers of GATE data."""
