"""Request enrichment: device class from the User-Agent, country from the IP."""
