// The second major versions of the frameworks are installed under aliases without types of their
// own; their APIs used here are those of the typed majors.
declare module 'express4' {
  import express from 'express'
  export default express
}
declare module 'koa2' {
  import Koa from 'koa'
  export default Koa
}
