// PrefetchingLoader: the BatchSource the trainer, the sparsity probe and
// calibration read from. Background threads decode and transform whole
// batches ahead of the consumer into a bounded window, so a training step
// finds its next batch ready.
//
// Determinism: the example order of an epoch is EpochOrder(seed, epoch) and
// each example's augmentations use ExampleSeed(seed, epoch, index); batches
// are handed out strictly in order. The batches are therefore identical for
// any number of threads, including zero (decode on the caller's thread).
#ifndef PRUNESERVE_CORE_DATA_PREFETCHING_LOADER_H_
#define PRUNESERVE_CORE_DATA_PREFETCHING_LOADER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/data/batch_source.h"
#include "core/data/image_dataset.h"
#include "core/data/transforms.h"

namespace pruneserve::data {

struct LoaderOptions {
  // Examples per batch; the last batch of an epoch may be smaller unless
  // drop_last is set.
  int64_t batch_size = 64;
  // Visit examples in a seeded random order (a new one every epoch).
  bool shuffle = false;
  // Seeds the order and the augmentations.
  uint64_t seed = 0;
  // Drop the final incomplete batch of each epoch.
  bool drop_last = false;
  // Background decoding threads; 0 decodes on the thread calling Next().
  int num_threads = 2;
  // Decoded batches allowed to wait ahead of the consumer (the queue bound,
  // and with it the memory held), at least 1.
  int64_t prefetch_batches = 4;
  // Applied to every example.
  TransformOptions transform;
};

// Owns its threads (started by Create(), joined by the destructor) and
// shares ownership of the data set. The BatchSource methods are meant for
// one consumer thread; they are internally synchronised with the workers.
class PrefetchingLoader : public BatchSource {
 public:
  // INVALID_ARGUMENT for bad options (batch size, threads, window, or a
  // transform Create() rejects) or an empty data set. Starts the threads
  // idle: nothing is decoded before the first StartEpoch()/Next().
  static absl::StatusOr<std::unique_ptr<PrefetchingLoader>> Create(
      std::shared_ptr<const ImageDataset> dataset,
      const LoaderOptions& options);

  // Stops the workers and joins them; waits for batches in flight.
  ~PrefetchingLoader() override;

  PrefetchingLoader(const PrefetchingLoader&) = delete;
  PrefetchingLoader& operator=(const PrefetchingLoader&) = delete;

  // Discards everything of the previous epoch and starts decoding `epoch`.
  // Does not block on decoding.
  void StartEpoch(int64_t epoch) override;

  // The next batch of the current epoch (epoch 0 if StartEpoch() was never
  // called), std::nullopt after the last one, or the error of the first bad
  // example in the batch (naming its file/offset, or the shape mismatch).
  // An error consumes that batch; later calls continue with the next one.
  // Blocks until the batch is decoded.
  absl::StatusOr<std::optional<Batch>> Next() override;

  // Examples per epoch after drop_last.
  int64_t num_examples() const override;
  int64_t num_classes() const override { return dataset_->num_classes(); }
  // Batches per epoch.
  int64_t num_batches() const { return num_batches_; }

 private:
  PrefetchingLoader(std::shared_ptr<const ImageDataset> dataset,
                    LoaderOptions options, ImageTransform transform);

  // Decodes, transforms and stacks batch `batch` of an epoch. Thread-safe.
  absl::StatusOr<Batch> BuildBatch(const std::vector<int64_t>& order,
                                   int64_t epoch, int64_t batch) const;
  void WorkerLoop();
  void StartEpochLocked(int64_t epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<const ImageDataset> dataset_;
  const LoaderOptions options_;
  const ImageTransform transform_;
  const int64_t num_batches_;

  absl::Mutex mu_;
  // Bumped by StartEpoch(); results of an older generation are dropped.
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const std::vector<int64_t>> order_ ABSL_GUARDED_BY(mu_);
  // Next batch a worker will claim, and next batch Next() returns.
  int64_t next_to_claim_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_to_return_ ABSL_GUARDED_BY(mu_) = 0;
  // Finished batches waiting for the consumer, by batch number.
  std::map<int64_t, absl::StatusOr<Batch>> ready_ ABSL_GUARDED_BY(mu_);

  std::vector<std::thread> workers_;
};

}  // namespace pruneserve::data

#endif  // PRUNESERVE_CORE_DATA_PREFETCHING_LOADER_H_
