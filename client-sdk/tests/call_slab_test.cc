#include "call_slab.h"

#include <gtest/gtest.h>

#include "call_data.h"

namespace krpc::impl {
namespace {

TEST(CallSlabTest, ids_are_unique_and_stale_ids_miss) {
  CallSlab slab;
  Attempt a, b;
  const uint64_t ia = slab.Insert(&a);
  const uint64_t ib = slab.Insert(&b);
  EXPECT_NE(ia, ib);
  EXPECT_NE(ia, 0u);
  EXPECT_EQ(slab.size(), 2u);
  EXPECT_EQ(slab.Take(ia), &a);
  EXPECT_EQ(slab.Take(ia), nullptr) << "a late response for a finished call is dropped";
  const uint64_t ia2 = slab.Insert(&a);  // reuses the slot with a new generation
  EXPECT_NE(ia2, ia);
  EXPECT_EQ(slab.Take(ia), nullptr);
  EXPECT_EQ(slab.Take(ia2), &a);
  auto rest = slab.TakeAll();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].second, &b);
  EXPECT_TRUE(slab.empty());
}

}  // namespace
}  // namespace krpc::impl
