"""One process of a multi-process run, started by tests/test_parallel.py (not a test itself).

usage: python distributed_worker.py CONFIG_JSON WORKDIR PARAMS_OUT
The config's `parallel.distributed` section says which process this is. Does what
`run_experiment` does, keeping hold of the loop to save the trained parameters it ends with.
"""

import json
import sys
from pathlib import Path

import jax
import numpy as np

from jaxcourse import config as config_lib
from jaxcourse.engine.rundir import RunDir
from jaxcourse.parallel import distributed, placement
from jaxcourse.runners.supervised import TrainLoop, build

if __name__ == "__main__":
    raw_path, workdir, params_out = sys.argv[1:4]
    config = config_lib.load(raw=json.loads(Path(raw_path).read_text()))
    distributed.initialize(config.parallel.distributed)
    rundir = RunDir(workdir) if distributed.is_primary() else distributed.SilentRunDir(workdir)
    rundir.start(config_lib.dump_yaml(config))
    plan = placement.make_plan(config.parallel)
    training, placement = plan.place(build(config, plan.axis_name), config.train)
    loop = TrainLoop(config, rundir, training, placement)
    summary = loop.run()
    rundir.close()
    leaves = jax.tree_util.tree_leaves_with_path(loop.placement.fetch(loop.state.params))
    np.savez(params_out, **{jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves})
    report = {"process": jax.process_index(), "processes": jax.process_count()}
    report |= {"devices": jax.device_count(), "loss": summary["final"]["loss"]}
    print(json.dumps(report))
