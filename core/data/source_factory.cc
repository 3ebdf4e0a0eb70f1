#include "core/data/source_factory.h"

#include "absl/strings/str_cat.h"
#include "core/data/dataset_spec.h"
#include "core/data/prefetching_loader.h"

namespace pruneserve::data {

absl::StatusOr<std::unique_ptr<BatchSource>> OpenBatchSource(
    const SourceOptions& s, const std::vector<int64_t>& shape) {
  if (shape.size() != 4 || shape[1] <= 0 || shape[2] <= 0 || shape[3] <= 0) {
    return absl::InvalidArgumentError(
        "input shape must be 4 positive dims (NCHW)");
  }
  auto spec = ParseDatasetSpec(s.spec);
  if (!spec.ok()) return spec.status();
  OpenOptions open;
  open.limit = s.limit;
  open.image_folder_channels = shape[1] == 1 ? 1 : 3;
  auto dataset = OpenDataset(*spec, open);
  if (!dataset.ok()) return dataset.status();
  FormatDefaults defaults = DefaultsFor(spec->format);
  LoaderOptions loader;
  loader.batch_size = s.batch_size;
  loader.shuffle = s.shuffle;
  loader.seed = s.seed;
  loader.num_threads = s.threads;
  loader.transform.channels = shape[1];
  if (shape[2] != defaults.image_size) loader.transform.resize = shape[2];
  if (s.augment) {
    loader.transform.random_crop_padding = 2;
    loader.transform.random_horizontal_flip = true;
  }
  loader.transform.mean = defaults.mean;
  loader.transform.std = defaults.std;
  // Grayscale replicated to C channels: one statistic serves every channel.
  if (shape[1] != defaults.channels && defaults.mean.size() > 1) {
    loader.transform.mean.resize(1);
    loader.transform.std.resize(1);
  }
  auto source = PrefetchingLoader::Create(*dataset, loader);
  if (!source.ok()) return source.status();
  return std::unique_ptr<BatchSource>(std::move(*source));
}

}  // namespace pruneserve::data
