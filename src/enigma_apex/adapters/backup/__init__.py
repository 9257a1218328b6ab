"""Backups that survive the machine: encrypted copies of the database in a folder or an S3-compatible bucket.

- ``crypto``: client-side encryption of a backup file (AES-256-GCM in 1 MiB chunks).
- ``targets``: where backups go (a folder, or an S3-compatible bucket through boto3).
- ``offsite``: taking a backup there, listing, retention, and restoring one into a data folder.
"""
