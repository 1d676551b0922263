"""Viewing reports computed in MongoDB over the `sessions` collection.

Every pipeline starts with a $match whose first key is `client_id`, then the
`start` range, so it runs on the client_start index and one tenant's chunks.
"""
