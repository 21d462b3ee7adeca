package id.go.bantenprov.dpk.itsm.check;

import io.cloudevents.CloudEvent;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads every message of the given topics, from the beginning to their end now, through the
 * CloudEvents Java SDK's Kafka deserializer, as a Spring, Quarkus or Knative consumer would.
 *
 * <p>Usage: {@code ReadEveryMessage BOOTSTRAP TOPIC...}. One line per message on stdout, tab
 * separated: {@code EVENT topic partition offset type source dataschema}, or {@code UNREADABLE
 * topic partition offset reason}; then {@code READ topic count} per topic. Exit status 1 when
 * any message was unreadable. The Python test that runs it judges the lines.
 */
public final class ReadEveryMessage {
  private static final Duration POLL = Duration.ofMillis(500);
  private static final long TIMEOUT_MS = 60_000;

  private ReadEveryMessage() {}

  public static void main(String[] args) {
    if (args.length < 2) {
      System.err.println("usage: ReadEveryMessage BOOTSTRAP TOPIC...");
      System.exit(2);
    }
    Properties config = new Properties();
    config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    config.put(
        ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    // The value is deserialized by hand, record by record, so that one bad message is named
    // (topic, partition, offset, the SDK's reason) instead of stopping the poll.
    CloudEventDeserializer cloudEvents = new CloudEventDeserializer();
    cloudEvents.configure(Map.of(), false);
    int unreadable = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config)) {
      for (int i = 1; i < args.length; i++) {
        unreadable += readTopic(consumer, cloudEvents, args[i]);
      }
    }
    System.out.flush();
    System.exit(unreadable == 0 ? 0 : 1);
  }

  private static int readTopic(
      KafkaConsumer<byte[], byte[]> consumer, CloudEventDeserializer cloudEvents, String topic) {
    List<TopicPartition> partitions =
        consumer.partitionsFor(topic).stream()
            .map(info -> new TopicPartition(topic, info.partition()))
            .collect(Collectors.toList());
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
    long deadline = System.currentTimeMillis() + TIMEOUT_MS;
    int read = 0;
    int unreadable = 0;
    while (partitions.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException(topic + " could not be read to its end");
      }
      for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
        read++;
        String where = record.topic() + "\t" + record.partition() + "\t" + record.offset();
        try {
          CloudEvent event = cloudEvents.deserialize(record.topic(), record.headers(), record.value());
          System.out.println(
              "EVENT\t" + where + "\t" + event.getType() + "\t" + event.getSource() + "\t"
                  + event.getDataSchema());
        } catch (RuntimeException error) {
          unreadable++;
          System.out.println("UNREADABLE\t" + where + "\t" + error.getMessage());
        }
      }
    }
    System.out.println("READ\t" + topic + "\t" + read);
    return unreadable;
  }
}
