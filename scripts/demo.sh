#!/usr/bin/env bash
# The main job: imports the real datasets into a fresh embedded database and runs example
# queries, printing each query, its result and its time.  Usage: scripts/demo.sh EAVDB DATA_DIR [DB]
set -euo pipefail
EAVDB=$1
DATA=$2
DB=${3:-build/demo.db}
rm -f "$DB" "$DB-wal" "$DB-shm"
run() { echo "\$ eavdb $*"; "$EAVDB" --db "$DB" "$@"; echo; }

echo "== import =="
run import "$DATA/movies.json" --type movie
run import "$DATA/birdstrikes.csv" --type birdstrike
run import "$DATA/zipcodes.csv" --type zipcode
run types movie

echo "== queries =="
q() { echo "\$ eavdb query \"$1\""; shift_args=("${@:2}"); "$EAVDB" --db "$DB" query "$1" --timing "${shift_args[@]}"; echo; }
q "SELECT title, imdb_rating, release_date FROM movie WHERE imdb_rating >= 8.5 ORDER BY imdb_rating DESC, title LIMIT 10"
q "SELECT major_genre, COUNT(*) AS movies, AVG(imdb_rating) AS avg_rating, SUM(us_gross) AS us_gross FROM movie GROUP BY major_genre ORDER BY movies DESC"
q "SELECT title, us_gross FROM movie WHERE release_date BETWEEN '1995-01-01' AND '1995-12-31' AND us_gross > 100000000 ORDER BY us_gross DESC"
q "SELECT COUNT(*) AS no_rating FROM movie WHERE rotten_tomatoes_rating IS NULL"
q "SELECT title, director FROM movie WHERE title LIKE 'Star %' ORDER BY release_date NULLS FIRST LIMIT 5"
q "SELECT * FROM movie WHERE title = ?" --param "The Matrix" --format json
q "SELECT wildlife_size, COUNT(*), MAX(cost_total) FROM birdstrike WHERE origin_state IN ('Texas', 'California') GROUP BY wildlife_size"
q "SELECT zip_code, city, latitude, longitude FROM zipcode WHERE state = 'NY' AND city = 'Holtsville'"
q "SELECT state, COUNT(*) AS zips, MIN(zip_code), MAX(zip_code) FROM zipcode GROUP BY state ORDER BY zips DESC LIMIT 5"
