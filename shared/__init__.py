"""Code every Newswire service imports: settings, database, models, events, queue."""
