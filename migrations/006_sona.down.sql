-- service: sona
-- Reverses 006_sona: drops item similarity, user vectors, interactions and the sona schema.

DROP TABLE sona.item_similarity;
DROP TABLE sona.user_vectors;
DROP TABLE sona.interactions;
DROP SCHEMA sona;
