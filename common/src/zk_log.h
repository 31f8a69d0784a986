// The ZooKeeper C client's log callback: its lines go to spdlog ("zookeeper"), rate-limited.
#pragma once

namespace krpc {

void ZooKeeperLog(const char* message);

}  // namespace krpc
