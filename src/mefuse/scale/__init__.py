"""Scale-out: Ray as the engine that spreads extraction and the bench grid over a cluster.

The feature store and the bench folder stay the single source of truth: Ray only decides where
each piece of work runs, every result is written atomically where the local run writes it, and a
rerun skips what is done. Ray is an optional dependency (``pip install 'mefuse[ray]'``).
"""
