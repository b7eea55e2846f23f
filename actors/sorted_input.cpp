// actors/sorted_input.cpp — BATCH's keyed input: sort, then feed key by key.
#include "actors/sorted_input.hpp"

#include "sluice/error.hpp"

namespace sluice::runtime {

SortedInput::SortedInput(Sorter::Options options, OperatorBase& head, BatchKeyedBackend* state)
    : sorter_(std::move(options)), head_(&head), state_(state) {}

void SortedInput::add_input(int input, const detail::EdgeType& type, std::unique_ptr<detail::RecordDecoder> reader,
                            bool sorted) {
  if (input != int(inputs_.size())) throw std::logic_error("sorted input: inputs out of order");
  if (input > 255) throw std::logic_error("sorted input: more than 256 inputs");
  inputs_.push_back({&type, std::move(reader), sorted});
}

void SortedInput::add(int input, const uint8_t* bytes, size_t size, int64_t timestamp) {
  auto& in = inputs_.at(size_t(input));
  if (!in.sorted) return in.reader->decode(bytes, size, timestamp);
  key_.clear();
  in.type->sort_key(bytes, size, key_);
  const char tag = char(input);
  sorter_.add(std::string_view(reinterpret_cast<const char*>(key_.data()), key_.size()), timestamp,
              std::string_view(&tag, 1), std::string_view(reinterpret_cast<const char*>(bytes), size));
}

void SortedInput::finish() {
  if (finished_) return;
  finished_ = true;
  sorter_.finish();
}

void SortedInput::end_key() {
  head_->end_of_key();
  if (state_) state_->clear();
  keyed_ = false;
}

bool SortedInput::feed(int& budget, const std::function<bool()>& more) {
  if (done_) return true;
  Sorter::Record r;
  while (budget > 0 && more()) {
    if (!sorter_.next(r)) {
      if (keyed_) end_key();
      done_ = true;
      return true;
    }
    if (keyed_ && r.key != current_) end_key();
    if (!keyed_) {
      current_.assign(r.key.data(), r.key.size());
      keyed_ = true;
    }
    auto input = size_t(uint8_t(r.payload.front()));
    inputs_.at(input).reader->decode(reinterpret_cast<const uint8_t*>(r.payload.data() + 1), r.payload.size() - 1,
                                     r.timestamp);
    --budget;
  }
  return false;
}

}  // namespace sluice::runtime
