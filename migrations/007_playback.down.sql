-- service: playback
-- Reverses 007_playback: drops history, progress and the playback schema.

DROP TABLE playback.history;
DROP TABLE playback.progress;
DROP SCHEMA playback;
