"""Scale: data parallelism over devices (sharding, pmap), several hosts, sweeps."""
