-- service: users
-- Reverses 005_users_profiles_devices: drops devices, preferences, profiles and the users schema.

DROP TABLE users.devices;
DROP TABLE users.preferences;
DROP TABLE users.profiles;
DROP SCHEMA users;
