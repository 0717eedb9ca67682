"""What the provider tells a person, built from the facts the pure core (``_core``) reports."""
