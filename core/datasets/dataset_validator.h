// Checks that the files extracted from an uploaded archive form a data set
// of the declared format that core/data's readers open directly, and
// describes its splits (image counts, classes, image size). Strict: a file
// the format does not use is refused rather than ignored, so what is stored
// is exactly what a job will read.
//
//   IDX (MNIST, Fashion-MNIST)  train-images-idx3-ubyte[.gz] with
//                               train-labels-idx1-ubyte[.gz], and/or the
//                               t10k-* pair (split "test"); or, with a
//                               split hint, one image and one label file
//                               under any names, renamed to that split's
//   CIFAR-10                    data_batch_1..5.bin (train, all five)
//                               and/or test_batch.bin; batches.meta.txt and
//                               readme.html are allowed
//   CIFAR-100                   train.bin and/or test.bin; the label-name
//                               text files are allowed
//   ImageFolder                 <class>/<image>, or <split>/<class>/<image>
//                               with splits among train, val, test sharing
//                               one set of classes
#ifndef PRUNESERVE_CORE_DATASETS_DATASET_VALIDATOR_H_
#define PRUNESERVE_CORE_DATASETS_DATASET_VALIDATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pruneserve/v1/datasets.pb.h"

namespace pruneserve::datasets {

// Validates the data set in `dir`, whose regular files (relative paths) are
// `files`. `split_hint` is UploadDatasetHeader.split ("" for none); with
// it, an IDX upload's two files are renamed inside `dir`. Returns the
// splits in a fixed order (train, val, test; "" for an ImageFolder without
// splits). INVALID_ARGUMENT naming the file and the problem: an unexpected
// or missing file, a wrong magic number or record size, mismatched counts,
// an undecodable image header, classes that differ between splits, no
// images. Blocks reading every IDX and CIFAR byte and every image header.
absl::StatusOr<std::vector<v1::DatasetSplit>> ValidateDatasetFiles(
    const std::string& dir, const std::vector<std::string>& files,
    v1::DatasetFormat format, absl::string_view split_hint);

}  // namespace pruneserve::datasets

#endif  // PRUNESERVE_CORE_DATASETS_DATASET_VALIDATOR_H_
