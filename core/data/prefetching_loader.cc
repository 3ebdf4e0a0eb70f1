// PrefetchingLoader: workers claim batch numbers in order, build them
// without the lock, and park the results in `ready_`; Next() takes them out
// strictly in order. The window next_to_claim_ < next_to_return_ +
// prefetch_batches bounds the memory held by decoded batches.
#include "core/data/prefetching_loader.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/torch_status.h"

namespace pruneserve::data {

absl::StatusOr<std::unique_ptr<PrefetchingLoader>> PrefetchingLoader::Create(
    std::shared_ptr<const ImageDataset> dataset, const LoaderOptions& options) {
  if (dataset == nullptr || dataset->size() == 0) {
    return absl::InvalidArgumentError("data set is empty");
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  if (options.num_threads < 0 || options.num_threads > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_threads must be in [0, 64], got ", options.num_threads));
  }
  if (options.prefetch_batches < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefetch_batches must be >= 1, got ", options.prefetch_batches));
  }
  if (options.drop_last && dataset->size() < options.batch_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("drop_last with batch_size ", options.batch_size,
                     " leaves no batch of ", dataset->size(), " examples"));
  }
  absl::StatusOr<ImageTransform> transform =
      ImageTransform::Create(options.transform);
  if (!transform.ok()) return transform.status();
  return std::unique_ptr<PrefetchingLoader>(new PrefetchingLoader(
      std::move(dataset), options, *std::move(transform)));
}

PrefetchingLoader::PrefetchingLoader(
    std::shared_ptr<const ImageDataset> dataset, LoaderOptions options,
    ImageTransform transform)
    : dataset_(std::move(dataset)),
      options_(std::move(options)),
      transform_(std::move(transform)),
      num_batches_(options_.drop_last
                       ? dataset_->size() / options_.batch_size
                       : (dataset_->size() + options_.batch_size - 1) /
                             options_.batch_size) {
  for (int i = 0; i < options_.num_threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

PrefetchingLoader::~PrefetchingLoader() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : workers_) t.join();
}

int64_t PrefetchingLoader::num_examples() const {
  return options_.drop_last ? num_batches_ * options_.batch_size
                            : dataset_->size();
}

void PrefetchingLoader::StartEpoch(int64_t epoch) {
  absl::MutexLock lock(&mu_);
  StartEpochLocked(epoch);
}

void PrefetchingLoader::StartEpochLocked(int64_t epoch) {
  ++generation_;
  started_ = true;
  epoch_ = epoch;
  order_ = std::make_shared<const std::vector<int64_t>>(
      EpochOrder(dataset_->size(), options_.shuffle, options_.seed, epoch));
  next_to_claim_ = 0;
  next_to_return_ = 0;
  ready_.clear();
}

absl::StatusOr<std::optional<Batch>> PrefetchingLoader::Next() {
  if (workers_.empty()) {
    std::shared_ptr<const std::vector<int64_t>> order;
    int64_t epoch = 0;
    int64_t batch = 0;
    {
      absl::MutexLock lock(&mu_);
      if (!started_) StartEpochLocked(0);
      if (next_to_return_ >= num_batches_) return std::nullopt;
      batch = next_to_return_++;
      order = order_;
      epoch = epoch_;
    }
    absl::StatusOr<Batch> built = BuildBatch(*order, epoch, batch);
    if (!built.ok()) return built.status();
    return std::optional<Batch>(*std::move(built));
  }

  absl::MutexLock lock(&mu_);
  if (!started_) StartEpochLocked(0);
  if (next_to_return_ >= num_batches_) return std::nullopt;
  const int64_t wanted = next_to_return_;
  auto ready = [this, wanted]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ready_.count(wanted) > 0;
  };
  mu_.Await(absl::Condition(&ready));
  auto node = ready_.extract(wanted);
  ++next_to_return_;
  if (!node.mapped().ok()) return node.mapped().status();
  return std::optional<Batch>(*std::move(node.mapped()));
}

void PrefetchingLoader::WorkerLoop() {
  auto can_claim = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ ||
           (started_ && next_to_claim_ < num_batches_ &&
            next_to_claim_ < next_to_return_ + options_.prefetch_batches);
  };
  while (true) {
    int64_t generation = 0;
    int64_t epoch = 0;
    int64_t batch = 0;
    std::shared_ptr<const std::vector<int64_t>> order;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&can_claim));
      if (stopping_) return;
      generation = generation_;
      epoch = epoch_;
      order = order_;
      batch = next_to_claim_++;
    }
    absl::StatusOr<Batch> built = BuildBatch(*order, epoch, batch);
    absl::MutexLock lock(&mu_);
    if (generation == generation_) ready_.emplace(batch, std::move(built));
  }
}

absl::StatusOr<Batch> PrefetchingLoader::BuildBatch(
    const std::vector<int64_t>& order, int64_t epoch, int64_t batch) const {
  const int64_t begin = batch * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size,
                                        static_cast<int64_t>(order.size()));
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  images.reserve(end - begin);
  labels.reserve(end - begin);
  for (int64_t pos = begin; pos < end; ++pos) {
    const int64_t index = order[pos];
    absl::StatusOr<Example> example = dataset_->Get(index);
    if (!example.ok()) return example.status();
    absl::StatusOr<torch::Tensor> image = transform_.Apply(
        example->image, ExampleSeed(options_.seed, epoch, index));
    if (!image.ok()) {
      return absl::Status(
          image.status().code(),
          absl::StrCat("example ", index, ": ", image.status().message()));
    }
    if (!images.empty() && !image->sizes().equals(images.front().sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "example ", index, " transforms to shape [",
          absl::StrJoin(image->sizes().vec(), ", "), "] but its batch has [",
          absl::StrJoin(images.front().sizes().vec(), ", "),
          "]; add a resize transform for images of mixed sizes"));
    }
    images.push_back(*std::move(image));
    labels.push_back(example->label);
  }
  try {
    return Batch{torch::stack(images), torch::tensor(labels, torch::kLong)};
  } catch (const std::exception& e) {
    return TorchErrorToStatus(e, absl::StrCat("stacking batch ", batch));
  }
}

}  // namespace pruneserve::data
