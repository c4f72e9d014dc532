"""pod-loss.txt Tables VI-VIII: ImageNet subsets, other CNNs, transformers (softmax vs POD).

    .venv/bin/python experiments/pod_table6_8_scale.py --only pod_in100,softmax_in100 \
        dataset.data_dir=/data/tfds
"""

from _runner import run_table

from mfdjax.configs.pod_imagenet import PAPER as IMAGENET

ROWS = []
for n, (soft, pod) in IMAGENET.items():
    ROWS += [(f"softmax_in{n}", f"pod_imagenet:{n},softmax", soft),
             (f"pod_in{n}", f"pod_imagenet:{n},pod", pod)]
for model in ("densenet121", "mobilenet_v2"):
    for ds in ("cifar10", "cifar100"):
        ROWS += [(f"{model}_{ds}_softmax", f"pod_networks:{model},{ds},softmax", None),
                 (f"{model}_{ds}_pod", f"pod_networks:{model},{ds},pod", None)]
for model, (s, p) in (("vit_b16", (92.14, 92.84)), ("swin_b", (91.67, 92.26))):
    ROWS += [(f"{model}_cifar100_softmax", f"pod_transformers:{model},cifar100,softmax", s),
             (f"{model}_cifar100_pod", f"pod_transformers:{model},cifar100,pod", p)]

if __name__ == "__main__":
    run_table("pod-loss.txt Tables VI-VIII: softmax vs POD at scale", ROWS,
              default_workdir="runs/pod_table6_8_scale")
