//! `stream` (broadcast publisher) to `record` (viewer) through a real Rendezvous server.

mod common;

use std::time::Duration;

use common::{connect, data_file, temp_dir, TestServer};
use peer::media::ivf::{vp8_is_keyframe, IvfReader};
use peer::{RecordOptions, StreamOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_stream_is_valid_vp8_in_ivf() {
    let server = TestServer::start().await;
    let dir = temp_dir("media");
    let out = dir.join("recorded.ivf");
    let recorder = tokio::spawn(peer::record::run(RecordOptions {
        connect: connect(&server, "broadcast"),
        out: out.clone(),
        frames: None,
        duration: None,
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = tokio::time::timeout(
        Duration::from_secs(60),
        peer::stream::run(StreamOptions {
            connect: connect(&server, "broadcast"),
            video: data_file("clip.ivf"),
            audio: Some(data_file("clip.ogg")),
            plays: 1,
            viewers: 1,
        }),
    )
    .await
    .expect("stream finishes")
    .expect("stream succeeds");
    assert_eq!(sent.video_frames, 45);
    assert!(sent.audio_packets >= 100, "{sent:?}");
    // The publisher leaves when the file ends; the recorder stops then.
    let rec = tokio::time::timeout(Duration::from_secs(30), recorder)
        .await
        .expect("record finishes")
        .expect("record task")
        .expect("record succeeds");
    assert!(rec.frames >= 30, "{rec:?}");
    assert_eq!((rec.width, rec.height), (160, 120));
    assert!(rec.pair.is_some());
    let mut ivf = IvfReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(u64::from(ivf.header.frames), rec.frames);
    let first = ivf.next_frame().unwrap().unwrap();
    assert!(vp8_is_keyframe(&first.data));
    assert_eq!(first.timestamp, 0);
    let mut last = 0;
    let mut count = 1;
    while let Some(f) = ivf.next_frame().unwrap() {
        assert!(f.timestamp >= last, "timestamps rise");
        last = f.timestamp;
        count += 1;
    }
    assert_eq!(count, rec.frames);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
