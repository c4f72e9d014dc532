"""One module per data source; :mod:`mfdjax.data.datasets` holds the entry points.

* :mod:`~mfdjax.data.sources.common`: the errors, :class:`ArrayDataset`, channel statistics;
* :mod:`~mfdjax.data.sources.idx`: MNIST / Fashion-MNIST IDX files;
* :mod:`~mfdjax.data.sources.digits`: scikit-learn's digits;
* :mod:`~mfdjax.data.sources.cifar`: CIFAR-10/100 python archives;
* :mod:`~mfdjax.data.sources.image_folder`: ``data_dir/<split>/<class>/<image>`` folders;
* :mod:`~mfdjax.data.sources.tfds`: prepared TFDS datasets (array_record).
"""
