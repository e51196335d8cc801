"""The Dask path: the chain's own per-customer functions run partition by partition on a cluster.

``dask_scheduler`` decides where work runs: empty keeps today's in-memory path (this package is
then never imported, so a normal run pays nothing for Dask), ``local`` starts a ``LocalCluster``
sized to the machine, and an address (``tcp://host:8786``) connects to a running scheduler.

Rooms: ``cluster`` (the scheduler parameter and the client), ``partitions`` (meter data as a folder
of parquet files partitioned by customer, written in pieces), ``preprocess`` (stage 02 per
partition through ``ntl.preprocess``), ``models`` (Isolation Forests on samples, ``xgboost.dask``)
and ``scoring`` (scores, tiers, reasons per partition; the ranking computed globally).
"""
