"""The anchor of the API benchmark: single-row SQLite commits with the store's durability
settings (WAL, synchronous=FULL), on the same disk, in the same run.

Usage: python3 bench/raw_commit.py DIR [COMMITS]   -> prints "commits_per_second <n>"
"""
import os
import sqlite3
import sys
import time

directory = sys.argv[1]
commits = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
path = os.path.join(directory, "raw.db")
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
for _ in range(200):  # warm up
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t (v) VALUES ('warm')")
    db.execute("COMMIT")
start = time.perf_counter()
for i in range(commits):
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}",))
    db.execute("COMMIT")
elapsed = time.perf_counter() - start
print(f"commits_per_second {commits / elapsed:.1f}")
