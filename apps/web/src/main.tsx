import { render } from 'preact';
import { connect } from './state.js';
import { App } from './views/App.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
connect();
