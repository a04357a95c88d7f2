/** `npm run migrate`: creates the database named by DATABASE_URL if needed and migrates it. */
import { DEFAULT_DATABASE_URL } from './connect.js';
import { migrate } from './migrate.js';

const url = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
migrate(url, (line) => console.log(line))
  .then(() => console.log('database is up to date'))
  .catch((error: Error) => {
    console.error(`migrate: ${error.message}`);
    process.exit(1);
  });
