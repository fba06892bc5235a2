-- Run once by the postgres image on its first start (docker-compose.yml): a demo table for pgcdc.
CREATE TABLE orders (
  id serial PRIMARY KEY,
  item text NOT NULL,
  amount numeric(10, 2) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO orders (item, amount) SELECT 'item ' || g, g * 1.25 FROM generate_series(1, 1000) g;
ANALYZE orders;
