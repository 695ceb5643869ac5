// The `kafka` upstream: every record becomes one Kafka message, produced with librdkafka
// (acks=all, enable.idempotence=true), keyed by device (per-device ordering), with headers
// `gateway` and `seq` and the record's wire JSON as the value. Delivery reports drive the
// cursor: Send() returns only once every message of the batch has its delivery report (or the
// batch's time is up), and `delivered` counts the records, from the first, that the cluster
// acknowledged. Schema and consumer examples: README.md in this folder.
//
// This file and kafka_upstream.cpp are the binary's side: the keys, their checks and the type
// entry. librdkafka is in the module processnow-kafka.so (kafka_module.h), loaded on first use:
// by the checks (each property is checked by librdkafka) and by Create.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "gateway/upstream/kafka/kafka_module.h"
#include "gateway/upstream/upstream.h"

namespace pn::kafka_upstream {

// Checks the table (semantic checks beyond the spec) and, with `gateway_id` set, resolves it.
// Every problem is appended to `errors` against its key, librdkafka's own message included
// (each property is applied with rd_kafka_conf_set, in the module; a module that cannot be
// loaded is an error at `type`). `read_secrets`: read password_file / password_env (false for
// `processnow check`, which only checks they are readable / set).
Settings FromSection(const config::Section& s, std::string_view gateway_id, bool read_secrets,
                     config::ErrorList& errors);

// The upstream, from the module: creates the producer (rd_kafka_new: no network yet).
//   Start(): re-creates the producer if a fatal (idempotence) error or Stop() destroyed it.
//   Send(): produces every record, then serves delivery reports until all are in, bounded by
//     delivery_timeout_ms (librdkafka's message.timeout.ms) plus a grace period. kOk: all
//     delivered. kRetry: the first undelivered record failed for a transient reason (broker
//     down, timeout, authorisation, unknown topic); `delivered` is the acknowledged prefix.
//     kError: the first undelivered record was refused for good (too large, invalid) and no
//     record after it failed transiently. Records delivered beyond the returned prefix are
//     remembered and not produced again by the next Send (fewer duplicates on retry).
//   Stop(): waits (up to 5 s) for outstanding reports, then destroys the producer.
// Thread-safety: one forwarder thread owns an instance and calls Start/Send/Stop.
// Errors: Config when librdkafka rejects the combination of properties; Unavailable when the
// module cannot be loaded.
Result<std::unique_ptr<Upstream>> Create(std::string name, std::string gateway_id,
                                         Settings settings);

UpstreamType UpstreamTypeEntry();

}  // namespace pn::kafka_upstream
