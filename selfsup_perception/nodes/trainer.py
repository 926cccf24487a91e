"""The ``trainer`` node: learns the head on the robot from the dataset the labeler writes.

It polls the dataset, embeds new frames (cached in the dataset), reads only those into a replay memory of
``replay_size`` frames (bounded RAM and time), retrains on what it holds (labels, and with ``consistency_weight``
state-consistency pairs) when enough new labelled frames have arrived or ``~/train`` is called, and publishes
the new head only when it beats the head in use on validation frames neither has trained on; the path is
announced on ``~/model`` (transient local: a detector started later still gets it). With ``seg_backbone`` it
also trains the split FCN's segmentation head on the pixel self-labels, announced on ``~/seg_head``
(``nodes.seg_training``). The work runs in a niced worker thread: the executor only answers ``~/train``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from selfsup_perception.core.config import labeling_from_stored
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import Head
from selfsup_perception.core.replay import ReplayMemory, ReplayOptions
from selfsup_perception.nodes.common import MODEL_QOS, Diagnostics, join_unless_hurried, logger_of, run_node
from selfsup_perception.nodes.parameters import ParameterError, declare, declare_embedder, declare_head_options
from selfsup_perception.nodes.seg_training import COUNTERS as SEG_COUNTERS
from selfsup_perception.nodes.seg_training import declare_seg_training, train_segmentation
from selfsup_perception.pipeline.frames import update_embeddings
from selfsup_perception.pipeline.robot_training import auc_text, replay_memory, retrain, trained_through

COUNTERS = ('frames_seen', 'labelled_frames_seen', 'embeddings_computed', 'trainings', 'heads_published',
            'heads_kept', 'training_failures', *SEG_COUNTERS, 'callback_errors', 'problems')


class TrainerNode(Node):
    """Watches the dataset, keeps embeddings cached, retrains the head and announces better heads."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('trainer', **kwargs)
        dataset_path = declare(self, 'dataset_path', 'selfsup_dataset.db', 'dataset file the labeler writes')
        head_path = declare(self, 'head_path', 'head.npz', 'where a better head is written (.npz, card .json '
                            'beside it); a head already there is the head in use at start')
        self.poll_period = declare(self, 'poll_period', 5.0, 'seconds between looks at the dataset (> 0)',
                                   valid=lambda v: v > 0, must='> 0')
        self.retrain_after = declare(self, 'retrain_after', 500, 'retrain once this many new labelled frames '
                                     'have arrived (0: only when ~/train is called)', valid=lambda v: v >= 0,
                                     must='>= 0')
        self.min_auc_gain = declare(self, 'min_auc_gain', 0.0, 'a new head is published only if its validation '
                                    'AUC beats the head in use by more than this (>= 0)', valid=lambda v: v >= 0,
                                    must='>= 0')
        self.options = declare_head_options(self)
        least = 2 * ReplayOptions.clip_frames
        replay_size = declare(self, 'replay_size', ReplayOptions.capacity, f'frames the replay memory holds '
                              f'(>= {least}): bounds RAM and time', valid=lambda v: v >= least, must=f'>= {least}')
        start_head = declare(self, 'start_head', '', 'head to fine-tune first (e.g. the shipped models/head.npz) '
                             'while head_path has none; empty: train from scratch')
        self.fine_tune = declare(self, 'fine_tune', True, 'start each training from the head in use, else from scratch')
        self.nice = declare(self, 'nice', 10, 'niceness added to the training thread (Linux, >= 0)',
                            valid=lambda v: v >= 0, must='>= 0')
        if not head_path.endswith('.npz'):
            raise ParameterError(f'head_path: must end in .npz, got {head_path!r}')
        self.replay = ReplayOptions(capacity=replay_size, seed=self.options.seed)
        self.memory: ReplayMemory | None = None
        self.dataset_path = Path(dataset_path).expanduser().resolve()
        self.head_path = Path(head_path).expanduser().resolve()
        self.head_path.parent.mkdir(parents=True, exist_ok=True)
        self.embedder = declare_embedder(self)
        self.diagnostics = Diagnostics(self, 'trainer')
        self.diagnostics.set_counters(dict.fromkeys(COUNTERS, 0))
        self.diagnostics.values.update(dataset=str(self.dataset_path), head=str(self.head_path), validation_auc='',
                                       embedding_model=self.embedder.description, last_training_s='')
        self._model_publisher = self.create_publisher(String, '~/model', MODEL_QOS)
        self._seg_publisher = self.create_publisher(String, '~/seg_head', MODEL_QOS)
        self.seg, seg_in_use = declare_seg_training(self, self.embedder.backend.name, 1)
        if seg_in_use and self.seg is not None:
            self._seg_publisher.publish(String(data=str(self.seg.out)))
        self.create_service(Trigger, '~/train', self._on_train)
        self.head = self._initial_head(start_head)
        self._seen_id = self._new_labelled = 0
        self._train_requested, self._wake, self._stop = threading.Event(), threading.Event(), threading.Event()
        self._worker = threading.Thread(target=self._work, name='trainer', daemon=True)
        self._worker.start()
        after = self.retrain_after or '(never: ~/train only)'
        self.get_logger().info(f'watching {self.dataset_path}; retraining after {after} new labelled frames; '
                               f'heads go to {self.head_path}')

    def _initial_head(self, start_head: str) -> Head | None:
        """The head at ``head_path`` if usable (announced again), else ``start_head`` to fine-tune (not announced)."""
        if self.head_path.exists():
            try:
                head = Head.load(self.head_path, embedder=self.embedder.card)
            except Exception as exc:  # whatever is wrong with it, it is not the head in use
                self.get_logger().warning(f'no usable head in use ({exc}); the next trained head replaces it')
            else:
                self._model_publisher.publish(String(data=str(self.head_path)))  # announce
                return head
        try:
            return Head.load(start_head, embedder=self.embedder.card) if start_head else None
        except Exception as exc:  # whatever makes it unusable, the node must not start with it
            raise ParameterError(f'start_head: {exc}') from exc

    def _on_train(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Queue a training run; the answer comes at once, the result on ~/model and /diagnostics."""
        self._train_requested.set()
        self._wake.set()
        response.success, response.message = True, 'training queued: a better head is announced on ~/model'
        return response

    def _work(self) -> None:
        if self.nice:
            os.nice(self.nice)  # Linux: this thread only
        dataset: Dataset | None = None
        try:
            while not self._stop.is_set():
                self._wake.wait(self.poll_period)
                self._wake.clear()
                if self._stop.is_set():
                    break
                try:
                    if dataset is None and self.dataset_path.exists():
                        dataset = Dataset(self.dataset_path)
                    if dataset is None:
                        self.diagnostics.problem('no_dataset', f'waiting for the dataset {self.dataset_path}')
                    else:
                        self._step(dataset)
                except Exception as exc:  # keep the thread alive, whatever went wrong, and say it
                    self.diagnostics.problem('errors', f'trainer step failed: {exc!r}')
        finally:
            if dataset is not None:
                dataset.close()

    def _step(self, dataset: Dataset) -> None:
        """Embed new frames; train when asked to or when enough new labelled frames arrived."""
        self._embed_new(dataset)
        requested = self._train_requested.is_set()
        if requested or (self.retrain_after and self._new_labelled >= self.retrain_after):
            self._train_requested.clear()
            self._embed_new(dataset)  # train on every frame there is now, as the labeler keeps appending
            self._new_labelled = 0
            self._train(dataset)
        if self.seg is not None:
            train_segmentation(self, self.seg, dataset, requested, self.diagnostics, self._seg_publisher)

    def _embed_new(self, dataset: Dataset) -> None:
        update = update_embeddings(dataset, self.embedder, after_id=self._seen_id)
        if update.last_id is not None:
            self._seen_id = update.last_id
            self._new_labelled += int(update.labelled[update.ids > trained_through(self.head, self.dataset_path)].sum())
        self.diagnostics.count('frames_seen', update.ids.size)
        self.diagnostics.count('labelled_frames_seen', int(update.labelled.sum()))
        self.diagnostics.count('embeddings_computed', update.computed)
        self.diagnostics.values['new_labelled_frames'] = str(self._new_labelled)

    def _train(self, dataset: Dataset) -> None:
        started = time.monotonic()
        self.diagnostics.count('trainings')
        if self.memory is None:
            self.memory = replay_memory(dataset, self.embedder.embedding_size, self.replay)
        try:  # reads only the frames new since the last time (their embeddings are cached by now)
            result = retrain(self.memory, dataset, labeling_from_stored(dataset.config), self.options, self.head,
                             dataset=self.dataset_path, embedding_sha256=self.embedder.sha256, until=self._seen_id,
                             fine_tune=self.fine_tune, min_auc_gain=self.min_auc_gain)
        except ValueError as exc:
            self.diagnostics.problem('training_failures', f'cannot train on {len(self.memory)} frames: {exc}')
            return
        self.diagnostics.values['last_training_s'] = f'{time.monotonic() - started:.1f}'
        summary = f'{result.summary()}, {time.monotonic() - started:.1f} s'
        if not result.better:
            self.diagnostics.count('heads_kept')
            self.get_logger().info(f'new head not better, keeping the head in use: {summary}')
            return
        made_by = {'trainer': 'selfsup_perception trainer node', 'embedding_model': self.embedder.description}
        result.head.save(self.head_path, made_by=made_by, metrics=result.metrics())
        self.head = result.head
        self.diagnostics.count('heads_published')
        self.diagnostics.values['validation_auc'] = auc_text(result.new_auc)
        self._model_publisher.publish(String(data=str(self.head_path)))  # announce
        self.get_logger().info(f'published {self.head_path}: {summary}')

    def destroy_node(self) -> None:
        """Stop the worker (a running training finishes first, unless Ctrl-C comes again) and go."""
        if hasattr(self, '_worker'):
            self._stop.set()
            self._wake.set()
            if not join_unless_hurried(self._worker):
                logger_of(self).warning('interrupted: abandoning the training in progress')
        super().destroy_node()


def main() -> int:
    return run_node(TrainerNode)


if __name__ == '__main__':
    raise SystemExit(main())
