// kafkajs's admin client against a Runnel Kafka listener, driven by
// tests/oracle/test_kafka_admin.py: `node admin.js BROKER TOPIC GROUP`.
//
// It creates TOPIC (validation none), produces 10 records to partition 0, commits
// offsets for GROUP, then exercises the admin calls and prints what it observed as
// one JSON object on stdout; the Python test asserts on it and checks the effects
// with other clients. Any exception fails the run (non-zero exit, message on stderr).
'use strict';

const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs');

async function main() {
  const [broker, topic, group] = process.argv.slice(2);
  if (!broker || !topic || !group) {
    throw new Error('usage: node admin.js BROKER TOPIC GROUP');
  }
  const kafka = new Kafka({ clientId: 'runnel-oracle-kafkajs', brokers: [broker], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const out = {};
  try {
    out.created = await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'runnel.validation', value: 'none' }] }],
      waitForLeaders: true,
    });

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const messages = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 }));
    await producer.send({ topic, acks: -1, messages });

    // Offsets committed outside a live group (generation -1), as kafka-consumer-groups does.
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '7' }] });
    out.committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });

    out.listed = (await admin.listGroups()).groups;
    out.described = (await admin.describeGroups([group])).groups;

    await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] });
    out.partitionsAfterGrow = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length;
    // A new producer: kafkajs's first one keeps the partition count it saw.
    const grown = kafka.producer({ allowAutoTopicCreation: false });
    await grown.connect();
    out.producedToNewPartition = await grown.send({ topic, acks: -1, messages: [{ value: 'on-2', partition: 2 }] });
    await grown.disconnect();
    try {
      await admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] });
      out.shrink = 'accepted';
    } catch (e) {
      out.shrink = errorType(e);
    }

    const describe = async () =>
      (await admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
        includeSynonyms: false,
      })).resources[0];
    out.configsBefore = (await describe()).configEntries;
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{
        type: ConfigResourceTypes.TOPIC,
        name: topic,
        configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'runnel.validation', value: 'none' }],
      }],
    });
    out.configsAfter = (await describe()).configEntries;

    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] });
    out.offsetsAfterDelete = await admin.fetchTopicOffsets(topic);

    out.deleted = await admin.deleteGroups([group]);
    out.listedAfterDelete = (await admin.listGroups()).groups;
    await producer.disconnect();
  } finally {
    await admin.disconnect();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

function errorType(e) {
  // kafkajs wraps per-topic protocol errors.
  if (e.type) return e.type;
  if (e.errors && e.errors.length && e.errors[0].type) return e.errors[0].type;
  if (e.originalError && e.originalError.type) return e.originalError.type;
  return String(e.message || e);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n${JSON.stringify(e)}\n`);
  process.exit(1);
});
