"""Viewing statistics: collection from devices, storage in MongoDB, popularity."""
