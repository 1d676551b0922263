# viewstats keeps its sessions in MongoDB (see store.py); no SQL models.
