//! The answer to a request the listener does not serve (an API it does not implement, or a
//! version outside the range it advertises), built as Apache Kafka's
//! `AbstractRequest.getErrorResponse` builds it: a response of that API, at the requested
//! version, carrying UNSUPPORTED_VERSION in its top-level error code, or, where the message
//! has none at that version, in every item the request named (each topic, partition,
//! group, resource, …). The client gets an error it understands instead of a closed
//! connection.
//!
//! Two cases cannot be answered and close the connection, as a Kafka broker does (its
//! socket server refuses a header whose API key or version it does not know, "Received
//! request api key … which is not enabled"): an API key `kafka-protocol` does not know
//! (there is no response schema to encode), and a version outside what `kafka-protocol` can
//! decode and encode for that API. ApiVersions itself is answered in v0 with the supported
//! list (`versions.rs`), so a client can always retry lower. The remaining inter-broker
//! APIs whose responses are only per-item and that no client sends (WriteTxnMarkers, the
//! share-group state RPCs) also close: their items would have to be invented.

use kafka_protocol::messages::*;

/// A response of `request`'s API at `version`, every error set to `e`; `None` when there
/// is no response to build (the connection is closed instead, see the module doc).
pub(super) fn error_response(request: RequestKind, version: i16, e: i16) -> Option<ResponseKind> {
    /// APIs whose response has a top-level error code at every version the crate knows.
    macro_rules! top {
        ($api:ident, $resp:ident) => {{
            let mut r = $resp::default();
            r.error_code = e;
            Some(ResponseKind::$api(r))
        }};
    }
    match request {
        RequestKind::AddOffsetsToTxn(_) => top!(AddOffsetsToTxn, AddOffsetsToTxnResponse),
        RequestKind::AddRaftVoter(_) => top!(AddRaftVoter, AddRaftVoterResponse),
        RequestKind::AllocateProducerIds(_) => top!(AllocateProducerIds, AllocateProducerIdsResponse),
        RequestKind::AlterPartition(_) => top!(AlterPartition, AlterPartitionResponse),
        RequestKind::AlterPartitionReassignments(_) => {
            top!(AlterPartitionReassignments, AlterPartitionReassignmentsResponse)
        }
        RequestKind::AlterShareGroupOffsets(_) => {
            top!(AlterShareGroupOffsets, AlterShareGroupOffsetsResponse)
        }
        RequestKind::AssignReplicasToDirs(_) => top!(AssignReplicasToDirs, AssignReplicasToDirsResponse),
        RequestKind::BeginQuorumEpoch(_) => top!(BeginQuorumEpoch, BeginQuorumEpochResponse),
        RequestKind::BrokerHeartbeat(_) => top!(BrokerHeartbeat, BrokerHeartbeatResponse),
        RequestKind::BrokerRegistration(_) => top!(BrokerRegistration, BrokerRegistrationResponse),
        RequestKind::ConsumerGroupHeartbeat(_) => {
            top!(ConsumerGroupHeartbeat, ConsumerGroupHeartbeatResponse)
        }
        RequestKind::ControllerRegistration(_) => {
            top!(ControllerRegistration, ControllerRegistrationResponse)
        }
        RequestKind::CreateDelegationToken(_) => top!(CreateDelegationToken, CreateDelegationTokenResponse),
        RequestKind::DeleteShareGroupOffsets(_) => {
            top!(DeleteShareGroupOffsets, DeleteShareGroupOffsetsResponse)
        }
        RequestKind::DescribeAcls(_) => top!(DescribeAcls, DescribeAclsResponse),
        RequestKind::DescribeClientQuotas(_) => top!(DescribeClientQuotas, DescribeClientQuotasResponse),
        RequestKind::DescribeCluster(_) => top!(DescribeCluster, DescribeClusterResponse),
        RequestKind::DescribeDelegationToken(_) => {
            top!(DescribeDelegationToken, DescribeDelegationTokenResponse)
        }
        RequestKind::DescribeQuorum(_) => top!(DescribeQuorum, DescribeQuorumResponse),
        RequestKind::DescribeUserScramCredentials(_) => {
            top!(DescribeUserScramCredentials, DescribeUserScramCredentialsResponse)
        }
        RequestKind::EndQuorumEpoch(_) => top!(EndQuorumEpoch, EndQuorumEpochResponse),
        RequestKind::EndTxn(_) => top!(EndTxn, EndTxnResponse),
        RequestKind::Envelope(_) => top!(Envelope, EnvelopeResponse),
        RequestKind::ExpireDelegationToken(_) => top!(ExpireDelegationToken, ExpireDelegationTokenResponse),
        RequestKind::FetchSnapshot(_) => top!(FetchSnapshot, FetchSnapshotResponse),
        RequestKind::GetTelemetrySubscriptions(_) => {
            top!(GetTelemetrySubscriptions, GetTelemetrySubscriptionsResponse)
        }
        RequestKind::Heartbeat(_) => top!(Heartbeat, HeartbeatResponse),
        RequestKind::InitProducerId(_) => top!(InitProducerId, InitProducerIdResponse),
        RequestKind::JoinGroup(_) => top!(JoinGroup, JoinGroupResponse),
        RequestKind::LeaveGroup(_) => top!(LeaveGroup, LeaveGroupResponse),
        RequestKind::ListConfigResources(_) => top!(ListConfigResources, ListConfigResourcesResponse),
        RequestKind::ListGroups(_) => top!(ListGroups, ListGroupsResponse),
        RequestKind::ListPartitionReassignments(_) => {
            top!(ListPartitionReassignments, ListPartitionReassignmentsResponse)
        }
        RequestKind::ListTransactions(_) => top!(ListTransactions, ListTransactionsResponse),
        RequestKind::OffsetDelete(_) => top!(OffsetDelete, OffsetDeleteResponse),
        RequestKind::PushTelemetry(_) => top!(PushTelemetry, PushTelemetryResponse),
        RequestKind::RemoveRaftVoter(_) => top!(RemoveRaftVoter, RemoveRaftVoterResponse),
        RequestKind::RenewDelegationToken(_) => top!(RenewDelegationToken, RenewDelegationTokenResponse),
        RequestKind::SaslAuthenticate(_) => top!(SaslAuthenticate, SaslAuthenticateResponse),
        RequestKind::SaslHandshake(_) => top!(SaslHandshake, SaslHandshakeResponse),
        RequestKind::ShareAcknowledge(_) => top!(ShareAcknowledge, ShareAcknowledgeResponse),
        RequestKind::ShareFetch(_) => top!(ShareFetch, ShareFetchResponse),
        RequestKind::ShareGroupHeartbeat(_) => top!(ShareGroupHeartbeat, ShareGroupHeartbeatResponse),
        RequestKind::SyncGroup(_) => top!(SyncGroup, SyncGroupResponse),
        RequestKind::UnregisterBroker(_) => top!(UnregisterBroker, UnregisterBrokerResponse),
        RequestKind::UpdateFeatures(_) => top!(UpdateFeatures, UpdateFeaturesResponse),
        RequestKind::UpdateRaftVoter(_) => top!(UpdateRaftVoter, UpdateRaftVoterResponse),
        RequestKind::Vote(_) => top!(Vote, VoteResponse),
        // Top-level from some version, per item before it.
        RequestKind::Fetch(_) if version >= 7 => top!(Fetch, FetchResponse),
        RequestKind::Fetch(req) => {
            let mut r = FetchResponse::default();
            r.responses = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = fetch_response::FetchableTopicResponse::default();
                    tr.topic = t.topic;
                    tr.topic_id = t.topic_id;
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut pd = fetch_response::PartitionData::default();
                            pd.partition_index = p.partition;
                            pd.error_code = e;
                            pd
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::Fetch(r))
        }
        RequestKind::FindCoordinator(_) if version < 4 => top!(FindCoordinator, FindCoordinatorResponse),
        RequestKind::FindCoordinator(req) => {
            let mut r = FindCoordinatorResponse::default();
            r.coordinators = req
                .coordinator_keys
                .into_iter()
                .map(|key| {
                    let mut c = find_coordinator_response::Coordinator::default();
                    c.key = key;
                    c.node_id = BrokerId(-1);
                    c.port = -1;
                    c.error_code = e;
                    c
                })
                .collect();
            Some(ResponseKind::FindCoordinator(r))
        }
        RequestKind::OffsetFetch(_) if (2..=7).contains(&version) => top!(OffsetFetch, OffsetFetchResponse),
        RequestKind::OffsetFetch(req) if version >= 8 => {
            let mut r = OffsetFetchResponse::default();
            r.groups = req
                .groups
                .into_iter()
                .map(|g| {
                    let mut gr = offset_fetch_response::OffsetFetchResponseGroup::default();
                    gr.group_id = g.group_id;
                    gr.error_code = e;
                    gr
                })
                .collect();
            Some(ResponseKind::OffsetFetch(r))
        }
        RequestKind::OffsetFetch(req) => {
            let mut r = OffsetFetchResponse::default();
            r.topics = req
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let mut tr = offset_fetch_response::OffsetFetchResponseTopic::default();
                    tr.name = t.name;
                    tr.partitions = t
                        .partition_indexes
                        .iter()
                        .map(|&p| {
                            let mut pr = offset_fetch_response::OffsetFetchResponsePartition::default();
                            pr.partition_index = p;
                            pr.committed_offset = -1;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::OffsetFetch(r))
        }
        RequestKind::AddPartitionsToTxn(_) if version >= 4 => {
            top!(AddPartitionsToTxn, AddPartitionsToTxnResponse)
        }
        RequestKind::AddPartitionsToTxn(req) => {
            let mut r = AddPartitionsToTxnResponse::default();
            r.results_by_topic_v3_and_below = req
                .v3_and_below_topics
                .into_iter()
                .map(|t| {
                    let mut tr = add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default();
                    tr.name = t.name;
                    tr.results_by_partition = t
                        .partitions
                        .iter()
                        .map(|&p| {
                            let mut pr =
                                add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default();
                            pr.partition_index = p;
                            pr.partition_error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::AddPartitionsToTxn(r))
        }
        RequestKind::ElectLeaders(_) if version >= 1 => top!(ElectLeaders, ElectLeadersResponse),
        RequestKind::ElectLeaders(req) => {
            let mut r = ElectLeadersResponse::default();
            r.replica_election_results = req
                .topic_partitions
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let mut tr = elect_leaders_response::ReplicaElectionResult::default();
                    tr.topic = t.topic;
                    tr.partition_result = t
                        .partitions
                        .iter()
                        .map(|&p| {
                            let mut pr = elect_leaders_response::PartitionResult::default();
                            pr.partition_id = p;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::ElectLeaders(r))
        }
        RequestKind::DescribeLogDirs(_) if version >= 3 => top!(DescribeLogDirs, DescribeLogDirsResponse),
        // Before v3 Kafka's error answer is an empty result list.
        RequestKind::DescribeLogDirs(_) => {
            Some(ResponseKind::DescribeLogDirs(DescribeLogDirsResponse::default()))
        }
        RequestKind::Metadata(req) => {
            let mut r = MetadataResponse::default();
            if version >= 13 {
                r.error_code = e;
            }
            r.topics = req
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    let mut tr = metadata_response::MetadataResponseTopic::default();
                    tr.name = t.name;
                    tr.topic_id = t.topic_id;
                    tr.error_code = e;
                    tr
                })
                .collect();
            Some(ResponseKind::Metadata(r))
        }
        // Per item only.
        RequestKind::Produce(req) => {
            let mut r = ProduceResponse::default();
            r.responses = req
                .topic_data
                .into_iter()
                .map(|t| {
                    let mut tr = produce_response::TopicProduceResponse::default();
                    tr.name = t.name;
                    tr.topic_id = t.topic_id;
                    tr.partition_responses = t
                        .partition_data
                        .iter()
                        .map(|p| {
                            let mut pr = produce_response::PartitionProduceResponse::default();
                            pr.index = p.index;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::Produce(r))
        }
        RequestKind::ListOffsets(req) => {
            let mut r = ListOffsetsResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = list_offsets_response::ListOffsetsTopicResponse::default();
                    tr.name = t.name;
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut pr = list_offsets_response::ListOffsetsPartitionResponse::default();
                            pr.partition_index = p.partition_index;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::ListOffsets(r))
        }
        RequestKind::OffsetCommit(req) => {
            let mut r = OffsetCommitResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = offset_commit_response::OffsetCommitResponseTopic::default();
                    tr.name = t.name;
                    tr.topic_id = t.topic_id;
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut pr = offset_commit_response::OffsetCommitResponsePartition::default();
                            pr.partition_index = p.partition_index;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::OffsetCommit(r))
        }
        RequestKind::TxnOffsetCommit(req) => {
            let mut r = TxnOffsetCommitResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = txn_offset_commit_response::TxnOffsetCommitResponseTopic::default();
                    tr.name = t.name;
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut pr =
                                txn_offset_commit_response::TxnOffsetCommitResponsePartition::default();
                            pr.partition_index = p.partition_index;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::TxnOffsetCommit(r))
        }
        RequestKind::OffsetForLeaderEpoch(req) => {
            let mut r = OffsetForLeaderEpochResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default();
                    tr.topic = t.topic;
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut pr = offset_for_leader_epoch_response::EpochEndOffset::default();
                            pr.partition = p.partition;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::OffsetForLeaderEpoch(r))
        }
        RequestKind::DeleteRecords(req) => {
            let mut r = DeleteRecordsResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = delete_records_response::DeleteRecordsTopicResult::default();
                    tr.name = t.name;
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut pr = delete_records_response::DeleteRecordsPartitionResult::default();
                            pr.partition_index = p.partition_index;
                            pr.low_watermark = -1;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::DeleteRecords(r))
        }
        RequestKind::DescribeProducers(req) => {
            let mut r = DescribeProducersResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = describe_producers_response::TopicResponse::default();
                    tr.name = t.name;
                    tr.partitions = t
                        .partition_indexes
                        .iter()
                        .map(|&p| {
                            let mut pr = describe_producers_response::PartitionResponse::default();
                            pr.partition_index = p;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::DescribeProducers(r))
        }
        RequestKind::CreateTopics(req) => {
            let mut r = CreateTopicsResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = create_topics_response::CreatableTopicResult::default();
                    tr.name = t.name;
                    tr.error_code = e;
                    tr.num_partitions = -1;
                    tr.replication_factor = -1;
                    tr
                })
                .collect();
            Some(ResponseKind::CreateTopics(r))
        }
        RequestKind::DeleteTopics(req) => {
            let mut r = DeleteTopicsResponse::default();
            let result = |name: Option<TopicName>| {
                let mut tr = delete_topics_response::DeletableTopicResult::default();
                tr.name = name;
                tr.error_code = e;
                tr
            };
            r.responses = if version >= 6 {
                req.topics
                    .into_iter()
                    .map(|t| {
                        let mut tr = result(t.name);
                        tr.topic_id = t.topic_id;
                        tr
                    })
                    .collect()
            } else {
                req.topic_names.into_iter().map(|n| result(Some(n))).collect()
            };
            Some(ResponseKind::DeleteTopics(r))
        }
        RequestKind::CreatePartitions(req) => {
            let mut r = CreatePartitionsResponse::default();
            r.results = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr = create_partitions_response::CreatePartitionsTopicResult::default();
                    tr.name = t.name;
                    tr.error_code = e;
                    tr
                })
                .collect();
            Some(ResponseKind::CreatePartitions(r))
        }
        RequestKind::DescribeGroups(req) => {
            let mut r = DescribeGroupsResponse::default();
            r.groups = req
                .groups
                .into_iter()
                .map(|g| {
                    let mut gr = describe_groups_response::DescribedGroup::default();
                    gr.group_id = g;
                    gr.error_code = e;
                    gr
                })
                .collect();
            Some(ResponseKind::DescribeGroups(r))
        }
        RequestKind::DeleteGroups(req) => {
            let mut r = DeleteGroupsResponse::default();
            r.results = req
                .groups_names
                .into_iter()
                .map(|g| {
                    let mut gr = delete_groups_response::DeletableGroupResult::default();
                    gr.group_id = g;
                    gr.error_code = e;
                    gr
                })
                .collect();
            Some(ResponseKind::DeleteGroups(r))
        }
        RequestKind::ConsumerGroupDescribe(req) => {
            let mut r = ConsumerGroupDescribeResponse::default();
            r.groups = req
                .group_ids
                .into_iter()
                .map(|g| {
                    let mut gr = consumer_group_describe_response::DescribedGroup::default();
                    gr.group_id = g;
                    gr.error_code = e;
                    gr
                })
                .collect();
            Some(ResponseKind::ConsumerGroupDescribe(r))
        }
        RequestKind::DescribeTransactions(req) => {
            let mut r = DescribeTransactionsResponse::default();
            r.transaction_states = req
                .transactional_ids
                .into_iter()
                .map(|id| {
                    let mut s = describe_transactions_response::TransactionState::default();
                    s.transactional_id = id;
                    s.error_code = e;
                    s
                })
                .collect();
            Some(ResponseKind::DescribeTransactions(r))
        }
        RequestKind::DescribeTopicPartitions(req) => {
            let mut r = DescribeTopicPartitionsResponse::default();
            r.topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let mut tr =
                        describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default();
                    tr.name = Some(t.name);
                    tr.error_code = e;
                    tr
                })
                .collect();
            Some(ResponseKind::DescribeTopicPartitions(r))
        }
        RequestKind::CreateAcls(req) => {
            let mut r = CreateAclsResponse::default();
            r.results = req
                .creations
                .iter()
                .map(|_| {
                    let mut a = create_acls_response::AclCreationResult::default();
                    a.error_code = e;
                    a
                })
                .collect();
            Some(ResponseKind::CreateAcls(r))
        }
        RequestKind::DeleteAcls(req) => {
            let mut r = DeleteAclsResponse::default();
            r.filter_results = req
                .filters
                .iter()
                .map(|_| {
                    let mut f = delete_acls_response::DeleteAclsFilterResult::default();
                    f.error_code = e;
                    f
                })
                .collect();
            Some(ResponseKind::DeleteAcls(r))
        }
        RequestKind::DescribeConfigs(req) => {
            let mut r = DescribeConfigsResponse::default();
            r.results = req
                .resources
                .into_iter()
                .map(|res| {
                    let mut rr = describe_configs_response::DescribeConfigsResult::default();
                    rr.resource_type = res.resource_type;
                    rr.resource_name = res.resource_name;
                    rr.error_code = e;
                    rr
                })
                .collect();
            Some(ResponseKind::DescribeConfigs(r))
        }
        RequestKind::AlterConfigs(req) => {
            let mut r = AlterConfigsResponse::default();
            r.responses = req
                .resources
                .into_iter()
                .map(|res| {
                    let mut rr = alter_configs_response::AlterConfigsResourceResponse::default();
                    rr.resource_type = res.resource_type;
                    rr.resource_name = res.resource_name;
                    rr.error_code = e;
                    rr
                })
                .collect();
            Some(ResponseKind::AlterConfigs(r))
        }
        RequestKind::IncrementalAlterConfigs(req) => {
            let mut r = IncrementalAlterConfigsResponse::default();
            r.responses = req
                .resources
                .into_iter()
                .map(|res| {
                    let mut rr = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
                    rr.resource_type = res.resource_type;
                    rr.resource_name = res.resource_name;
                    rr.error_code = e;
                    rr
                })
                .collect();
            Some(ResponseKind::IncrementalAlterConfigs(r))
        }
        RequestKind::AlterReplicaLogDirs(req) => {
            let mut r = AlterReplicaLogDirsResponse::default();
            r.results = req
                .dirs
                .into_iter()
                .flat_map(|d| d.topics)
                .map(|t| {
                    let mut tr = alter_replica_log_dirs_response::AlterReplicaLogDirTopicResult::default();
                    tr.topic_name = t.name;
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|&p| {
                            let mut pr =
                                alter_replica_log_dirs_response::AlterReplicaLogDirPartitionResult::default();
                            pr.partition_index = p;
                            pr.error_code = e;
                            pr
                        })
                        .collect();
                    tr
                })
                .collect();
            Some(ResponseKind::AlterReplicaLogDirs(r))
        }
        RequestKind::AlterClientQuotas(req) => {
            let mut r = AlterClientQuotasResponse::default();
            r.entries = req
                .entries
                .into_iter()
                .map(|en| {
                    let mut er = alter_client_quotas_response::EntryData::default();
                    er.error_code = e;
                    er.entity = en
                        .entity
                        .into_iter()
                        .map(|x| {
                            let mut ed = alter_client_quotas_response::EntityData::default();
                            ed.entity_type = x.entity_type;
                            ed.entity_name = x.entity_name;
                            ed
                        })
                        .collect();
                    er
                })
                .collect();
            Some(ResponseKind::AlterClientQuotas(r))
        }
        RequestKind::AlterUserScramCredentials(req) => {
            let mut r = AlterUserScramCredentialsResponse::default();
            let users =
                req.deletions.into_iter().map(|d| d.name).chain(req.upsertions.into_iter().map(|u| u.name));
            r.results = users
                .map(|user| {
                    let mut ur =
                        alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default();
                    ur.user = user;
                    ur.error_code = e;
                    ur
                })
                .collect();
            Some(ResponseKind::AlterUserScramCredentials(r))
        }
        RequestKind::ShareGroupDescribe(req) => {
            let mut r = ShareGroupDescribeResponse::default();
            r.groups = req
                .group_ids
                .into_iter()
                .map(|g| {
                    let mut gr = share_group_describe_response::DescribedGroup::default();
                    gr.group_id = g;
                    gr.error_code = e;
                    gr
                })
                .collect();
            Some(ResponseKind::ShareGroupDescribe(r))
        }
        RequestKind::DescribeShareGroupOffsets(req) => {
            use describe_share_group_offsets_response::DescribeShareGroupOffsetsResponseGroup as Group;
            let mut r = DescribeShareGroupOffsetsResponse::default();
            r.groups = req
                .groups
                .into_iter()
                .map(|g| {
                    let mut gr = Group::default();
                    gr.group_id = g.group_id;
                    gr.error_code = e;
                    gr
                })
                .collect();
            Some(ResponseKind::DescribeShareGroupOffsets(r))
        }
        // ApiVersions is answered by `versions::unsupported_api_versions`; the inter-broker
        // per-item RPCs (WriteTxnMarkers, Initialize/Read/Write/DeleteShareGroupState,
        // ReadShareGroupStateSummary) have nothing a client could read; and an API newer
        // than this list (`RequestKind` is non-exhaustive) has no answer written yet.
        _ => None,
    }
}
