//! Shared set-up for the emulator tests: a moto server, SDK clients pointed at it, and the AWS
//! resources a deployment has (guest bucket, snapshot function with its `prod` alias, topic).

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use clickrules_aws::{AwsClients, S3Uri};
use clickrules_engine::{Engine, EngineConfig};

use crate::moto::Moto;

/// One test's emulator and clients.
#[derive(Debug)]
pub struct World {
    /// The emulator, stopped when the world is dropped.
    pub moto: Moto,
    /// The clients the AWS edge uses, pointed at the emulator.
    pub clients: AwsClients,
    /// SQS, for the queues tests read messages back from.
    pub sqs: aws_sdk_sqs::Client,
    /// The configuration the clients were built from.
    pub config: aws_config::SdkConfig,
}

impl World {
    /// A fresh emulator, or `None` when the test is skipped (see [`Moto::start`]).
    pub async fn start(test: &str) -> Option<Self> {
        let moto = Moto::start(test)?;
        let config = moto.sdk_config().await;
        Some(Self {
            clients: AwsClients::from_sdk_config(&config, true),
            sqs: aws_sdk_sqs::Client::new(&config),
            config,
            moto,
        })
    }

    /// A bucket, versioned when asked (so records carry version ids).
    pub async fn bucket(&self, name: &str, versioned: bool) {
        self.clients
            .s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
        if versioned {
            self.clients
                .s3
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .expect("enable versioning");
        }
    }

    /// Uploads guest bytes; returns (etag, version id).
    pub async fn upload(&self, uri: &S3Uri, bytes: &[u8]) -> (Option<String>, Option<String>) {
        let out = self
            .clients
            .s3
            .put_object()
            .bucket(&uri.bucket)
            .key(&uri.key)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .expect("upload guest");
        (
            out.e_tag().map(str::to_string),
            out.version_id().map(str::to_string),
        )
    }

    /// Deletes an object.
    pub async fn delete(&self, uri: &S3Uri) {
        self.clients
            .s3
            .delete_object()
            .bucket(&uri.bucket)
            .key(&uri.key)
            .send()
            .await
            .expect("delete object");
    }

    /// The snapshot function the original deployment invokes, published with a `prod` alias.
    pub async fn snapshot_function(&self, name: &str) {
        self.moto
            .snapshot_function(&self.clients.lambda, name)
            .await;
    }

    /// A topic with two SQS subscribers: one raw (the body is the message) and one with SNS's
    /// JSON envelope (which carries the subject). Returns (topic arn, raw queue, JSON queue).
    pub async fn topic_with_queues(&self, name: &str) -> (String, String, String) {
        let topic = self
            .clients
            .sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create topic");
        let topic_arn = topic.topic_arn().expect("topic arn").to_string();
        let mut queues = Vec::new();
        for (queue, raw) in [("raw", true), ("envelope", false)] {
            let url = self.queue(&format!("{name}-{queue}")).await;
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("queue attributes");
            let queue_arn = attributes
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                .expect("queue arn")
                .clone();
            let mut subscribe = self
                .clients
                .sns
                .subscribe()
                .topic_arn(&topic_arn)
                .protocol("sqs")
                .endpoint(queue_arn);
            if raw {
                subscribe = subscribe.attributes("RawMessageDelivery", "true");
            }
            subscribe.send().await.expect("subscribe queue");
            queues.push(url);
        }
        let json = queues.pop().expect("two queues");
        let raw = queues.pop().expect("two queues");
        (topic_arn, raw, json)
    }

    /// A press-ledger table as the template creates it: on demand, string key `pk`, and the
    /// history indexes (one definition, [`clickrules_aws::ledger_table_request`]).
    pub async fn ledger_table(&self, name: &str) {
        clickrules_aws::ledger_table_request(&self.clients.dynamodb, name)
            .expect("the ledger table's definition")
            .send()
            .await
            .expect("create the ledger table");
    }

    /// A new SQS queue (e.g. a dead-letter queue); returns its URL.
    pub async fn queue(&self, name: &str) -> String {
        self.sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url()
            .expect("queue url")
            .to_string()
    }

    /// Every message waiting in a queue.
    pub async fn messages(&self, queue_url: &str) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive messages");
        out.messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_string))
            .collect()
    }
}

/// An engine with default limits and no guest settings.
pub fn engine() -> Arc<Engine> {
    Arc::new(Engine::new(EngineConfig::default()).expect("engine"))
}

/// An engine serving these guest settings.
pub fn engine_with(settings: &[(&str, &str)]) -> Arc<Engine> {
    let settings = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(
        Engine::new(EngineConfig {
            settings,
            ..EngineConfig::default()
        })
        .expect("engine"),
    )
}
