"""The catalogue: field types (the registry), periods; its models are in models/catalogue.py."""
