"""The cost plan of a recipe run, computed before (and instead of) the run: ``--plan``.

A recipe's planner lists, for every stage of its stage list, the network passes the stage
makes (:class:`Work`: image-passes = images x steps x epochs, the batch size, the kind of
pass) and its scikit-learn fits (:class:`Fit`). This module prices them:

* **FLOPs** of one batch of every (network, kind, batch size), counted by
  ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (shapes only: nothing is
  allocated or computed; a multiply-add counts 2). ``train`` is a forward and a backward to
  the weights; ``grad`` a forward and a backward to the input only (attacks, inversion);
  ``forward`` a forward without gradient.
* **Memory** at the configured batch size, an estimate from the same meta run: parameters
  (+ gradients and optimizer state for ``train``) + the tensors autograd saves for the
  backward (hooked with ``saved_tensors_hooks``, counted once per storage) + the input
  batch; a ``forward`` counts three times its largest activation instead. Not counted:
  the CUDA context (~0.5 GB), cuDNN workspaces, allocator fragmentation, the dataset.
* **GPU time** at a stated sustained throughput of a named GPU class (:data:`GPUS`),
  derived from a published measurement; float64 work at the stated float64 rate.
* **CPU time** from a short measured calibration on this machine: one timed forward and
  backward of a reference workload per dtype (:func:`cpu_rate`) gives the FLOP/s every
  network of that dtype is assumed to reach here; scikit-learn fits from one timed small
  fit (:func:`fit_seconds`).

Work marked ``cpu_only`` runs on the CPU even with ``--device cuda`` (as the code runs
today); a GPU run adds its CPU time to the GPU time.
"""

from advlab.experiments.plan.count import (
    RESNET50_TRAIN_FLOPS,
    Kind,
    Net,
    PassCost,
    Profile,
    cpu_rate,
    measure,
    profile,
    resnet50_train_flops,
)
from advlab.experiments.plan.pricing import (
    A100_AMP_IMG_S,
    A100_PEAKS,
    A100_TF32_IMG_S,
    Fit,
    Gpu,
    Pricer,
    StagePlan,
    Work,
    a100,
    fit_seconds,
    iter_works,
    price,
    totals,
)
from advlab.experiments.plan.report import (
    FORMAT,
    DatasetFacts,
    assemble,
    assumptions,
    dataset_facts,
    render,
)

__all__ = ["A100_AMP_IMG_S", "A100_PEAKS", "A100_TF32_IMG_S", "FORMAT", "RESNET50_TRAIN_FLOPS",
           "DatasetFacts", "Fit", "Gpu", "Kind", "Net", "PassCost", "Pricer", "Profile",
           "StagePlan", "Work", "a100", "assemble", "assumptions", "cpu_rate", "dataset_facts",
           "fit_seconds", "iter_works", "measure", "price", "profile", "render",
           "resnet50_train_flops", "totals"]
